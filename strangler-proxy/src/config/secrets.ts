import fs from 'node:fs';

export interface SecretRef {
  readonly env?: string | undefined;
  readonly file?: string | undefined;
  readonly value?: string | undefined;
}

/** Reads a secret, or returns why it could not (never the secret itself). */
export function readSecret(ref: SecretRef, env: NodeJS.ProcessEnv = process.env): { value: string } | { problem: string; at: 'env' | 'file' } {
  if (ref.value !== undefined) return { value: ref.value };
  if (ref.env !== undefined) {
    const v = env[ref.env];
    return v ? { value: v } : { problem: `environment variable ${ref.env} is not set`, at: 'env' };
  }
  try {
    const v = fs.readFileSync(ref.file!, 'utf8').replace(/\r?\n$/, '');
    return v ? { value: v } : { problem: `file ${ref.file} is empty`, at: 'file' };
  } catch (err) {
    return { problem: `cannot read ${ref.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, at: 'file' };
  }
}
