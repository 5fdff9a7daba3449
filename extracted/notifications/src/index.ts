export { startNotifications, type NotificationsOptions, type RunningNotifications } from './service';
export { loadEventContracts, EVENTS_DIR, type EventContract } from './contracts';
