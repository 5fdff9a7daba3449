export { createMessagingApp, TENANT_HEADER } from './app';
export { startMessaging, type MessagingOptions, type RunningMessaging } from './service';
export { messagingProjection, MIRRORED, PROJECTION } from './projection';
