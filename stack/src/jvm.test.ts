import { newClusterId } from './jvm';

describe('newClusterId', () => {
  it('is a 22-character base64url id that never starts with "-" (kafka-storage would read it as an option)', () => {
    for (let i = 0; i < 5000; i++) {
      const id = newClusterId();
      expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
      expect(Buffer.from(id, 'base64url')).toHaveLength(16);
    }
  });
});
