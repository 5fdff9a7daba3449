import { mergeNoise } from './noise';

describe('mergeNoise', () => {
  it('sums every worker\'s learned noise per route and path', () => {
    const merged = mergeNoise(
      ['r', 'q'],
      [
        [{ route: 'r', learned: [{ path: '$.at', seen: 3, samples: 10, example: [1, 2] }] }],
        [{ route: 'r', learned: [{ path: '$.at', seen: 2, samples: 5, example: [3, 4] }, { path: '$.id', seen: 1, samples: 5, example: ['a', 'b'] }] }],
      ],
    );
    expect(merged).toEqual([
      { route: 'r', learned: [{ path: '$.at', seen: 5, samples: 15, example: [1, 2] }, { path: '$.id', seen: 1, samples: 15, example: ['a', 'b'] }] },
      { route: 'q', learned: [] },
    ]);
  });
});
