import { parityVerdict } from './handover';

describe('parityVerdict: may the service take the writes?', () => {
  const proven = [
    { route: 'message-post', compared: 25, mismatched: 0 },
    { route: 'message-write', compared: 20, mismatched: 0 },
  ];

  it('passes when every write route was compared enough times with no mismatch', () => {
    expect(parityVerdict(proven, 20, false, 'acme')).toEqual({ parity: proven, parityForced: false });
  });

  it('refuses, naming each route short of it: too few comparisons, or any mismatch', () => {
    const short = [{ route: 'message-post', compared: 19, mismatched: 0 }, { route: 'room-create', compared: 300, mismatched: 1 }, proven[1]!];
    expect(() => parityVerdict(short, 20, false, 'acme')).toThrow(
      /^parity has not proven the service's writes for acme: message-post 19 compared, 0 mismatched; room-create 300 compared, 1 mismatched \(each write route needs 20 comparisons/,
    );
    expect(() => parityVerdict(short, 20, false, 'acme')).toThrow(expect.objectContaining({ code: 'STR_ERR_OWNERSHIP_REFUSED' }));
  });

  it('lets a forced hand-over through, and says it was forced; asks nothing when the domain asks none', () => {
    expect(parityVerdict([{ route: 'message-post', compared: 0, mismatched: 0 }], 20, true, 'acme')).toMatchObject({ parityForced: true });
    expect(parityVerdict([], 0, false, 'acme')).toEqual({ parity: 'not asked (parityMinSamples 0)' });
  });
});
