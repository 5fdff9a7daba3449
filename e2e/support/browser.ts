import fs from 'node:fs';

/** Debian's chromium (scripts/ensure-chromium.cjs installs it for the tests), or STRANGLER_CHROMIUM. */
export function findChromium(): string {
  const candidates = [process.env.STRANGLER_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((c): c is string => !!c);
  const found = candidates.find((c) => fs.existsSync(c));
  if (!found) throw new Error(`no Chromium at ${candidates.join(', ')}: run node scripts/ensure-chromium.cjs (apt-get install chromium), or set STRANGLER_CHROMIUM`);
  return found;
}
