/** The upstream's answer in bench/proxy: a JSON body of about 1 KiB. */
export const BODY = JSON.stringify({ data: Array.from({ length: 12 }, (_, i) => ({ id: i, name: `room-${i}`, tags: ['ops', 'eu'], created_at: '2026-11-25T10:00:00.000Z' })) }).slice(0, 1024);
