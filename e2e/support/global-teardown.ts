import fs from 'node:fs';

export default async function globalTeardown(): Promise<void> {
  const tmp = process.env.STRANGLER_TEST_TMP;
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  const stack = globalThis.__STRANGLER_STACK__;
  if (stack) {
    await stack.stop();
    globalThis.__STRANGLER_STACK__ = undefined;
  }
}
