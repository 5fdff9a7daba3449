/**
 * Several processes' Prometheus text expositions as one: every sample gets a
 * `worker` label, and each metric family is written once (its HELP and TYPE,
 * then every worker's samples), as the text format requires. Families whose
 * figures already are the whole cluster's in every worker (`whole`) are taken
 * from the first exposition only, without the label, so nothing counts twice.
 */
export function mergeExpositions(parts: ReadonlyArray<{ readonly worker: string; readonly text: string }>, whole: (family: string) => boolean = () => false): string {
  const families = new Map<string, { head: string[]; samples: string[] }>();
  parts.forEach(({ worker, text }, i) => {
    let family: { head: string[]; samples: string[] } | undefined;
    let isWhole = false;
    for (const line of text.split('\n')) {
      const meta = /^# (HELP|TYPE) (\S+)/.exec(line);
      if (meta) {
        const name = meta[2]!;
        isWhole = whole(name);
        family = families.get(name);
        if (!family) families.set(name, (family = { head: [], samples: [] }));
        if (!family.head.some((h) => h.startsWith(`# ${meta[1]} `))) family.head.push(line);
        continue;
      }
      if (line === '' || line.startsWith('#') || !family) continue;
      if (!isWhole) family.samples.push(labelled(line, worker));
      else if (i === 0) family.samples.push(line);
    }
  });
  let out = '';
  for (const f of families.values()) out += `${[...f.head, ...f.samples].join('\n')}\n`;
  return out;
}

/** `name{a="b"} 1` -> `name{worker="w",a="b"} 1`; `name 1` -> `name{worker="w"} 1`. */
function labelled(sample: string, worker: string): string {
  const end = sample.search(/[{ ]/);
  if (end < 0) return sample;
  const label = `worker="${worker}"`;
  if (sample[end] === ' ') return `${sample.slice(0, end)}{${label}}${sample.slice(end)}`;
  const rest = sample.slice(end + 1);
  return `${sample.slice(0, end + 1)}${label}${rest.startsWith('}') ? '' : ','}${rest}`;
}
