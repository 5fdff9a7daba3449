import { mergeNoise } from './noise';

const none = { data_changed: 0, status_changed: 0, elements_changed: 0, ids_changed: 0 };

describe('mergeNoise', () => {
  it("sums every worker's pairs, discards and sightings per route and path, and takes each rate over all pairs", () => {
    const merged = mergeNoise(
      ['r', 'q'],
      [
        [{ route: 'r', pairs: 10, discarded: { ...none, data_changed: 2 }, learned: [{ path: '$.at', seen: 3, samples: 10, rate: 0.3, noise: true, example: [1, 2] }] }],
        [
          {
            route: 'r',
            pairs: 5,
            discarded: { ...none, ids_changed: 1 },
            learned: [
              { path: '$.at', seen: 2, samples: 5, rate: 0.4, noise: false, example: [3, 4] },
              { path: '$.id', seen: 1, samples: 5, rate: 0.2, noise: false, example: ['a', 'b'] },
            ],
          },
        ],
      ],
    );
    expect(merged).toEqual([
      {
        route: 'r',
        pairs: 15,
        discarded: { ...none, data_changed: 2, ids_changed: 1 },
        learned: [
          { path: '$.at', seen: 5, samples: 15, rate: 5 / 15, noise: true, example: [1, 2] },
          { path: '$.id', seen: 1, samples: 15, rate: 1 / 15, noise: false, example: ['a', 'b'] },
        ],
      },
      { route: 'q', pairs: 0, discarded: none, learned: [] },
    ]);
  });
});
