export default async function globalTeardown(): Promise<void> {
  const stack = globalThis.__STRANGLER_STACK__;
  if (stack) {
    await stack.stop();
    globalThis.__STRANGLER_STACK__ = undefined;
  }
}
