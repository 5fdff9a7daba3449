import { parseCorpus } from './corpus';

describe('corpus files', () => {
  const line = '{"method":"GET","path":"/api/rooms/1"}';

  it('reads a capture still being written: an unfinished last line is left for later, a finished one is read', () => {
    expect(parseCorpus(`${line}\n{"method":"GE`, 'c.jsonl')).toHaveLength(1);
    expect(parseCorpus(`${line}\n${line}`, 'c.jsonl')).toHaveLength(2);
  });

  it('refuses every bad line with its number, and runs nothing', () => {
    expect(() => parseCorpus(`oops\n${line}\n{"method":"GET"}\n`, 'c.jsonl')).toThrow(/c\.jsonl: 2 bad line\(s\):\n {2}line 1: not JSON .*\n {2}line 3: path /);
  });
});
