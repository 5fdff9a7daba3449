import net from 'node:net';
import { assertPortsFree, freePort } from './ports';

describe('assertPortsFree', () => {
  it('names every taken port with the setting that moves it, and passes free ones', async () => {
    const held = net.createServer();
    await new Promise<void>((r) => held.listen(0, '127.0.0.1', r));
    const taken = (held.address() as net.AddressInfo).port;
    const free = await freePort();
    try {
      await expect(
        assertPortsFree([
          { port: taken, what: 'routing proxy', env: 'proxy.listen.port in the project file' },
          { port: free, what: 'Kafka broker', env: 'STRANGLER_KAFKA_PORT' },
        ]),
      ).rejects.toMatchObject({
        code: 'STR_ERR_STACK_PORT_TAKEN',
        message: `cannot start the stack:\n  - ${taken} (routing proxy) is taken: free it (ss -ltnp 'sport = :${taken}' shows who holds it) or set proxy.listen.port in the project file to a free port`,
      });
      await expect(assertPortsFree([{ port: free, what: 'Kafka broker', env: 'STRANGLER_KAFKA_PORT' }])).resolves.toBeUndefined();
    } finally {
      await new Promise((r) => held.close(r));
    }
  });
});
