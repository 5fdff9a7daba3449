import { formatNoise } from './parity';

describe('parity status: learned noise for a terminal', () => {
  it('gives each route its pairs and discards, and each path its rate, whether it is left out, and an example', () => {
    expect(
      formatNoise([
        {
          route: 'articles',
          pairs: 20,
          discarded: { data_changed: 3, status_changed: 0, elements_changed: 1, ids_changed: 0 },
          learned: [
            { path: '$.request_id', seen: 20, samples: 20, rate: 1, noise: true, example: ['m-1', 'm-2'] },
            { path: '$.articles[*].title', seen: 1, samples: 20, rate: 0.05, noise: false, example: ['Rates', 'Bonds'] },
          ],
        },
      ]),
    ).toEqual([
      'noise on articles: 20 unchanged pair(s) of monolith answers; discarded: data_changed 3, elements_changed 1',
      '    $.request_id  20/20 (100 %)  left out  e.g. "m-1" / "m-2"',
      '    $.articles[*].title  1/20 (5 %)  under the bar: compared  e.g. "Rates" / "Bonds"',
    ]);
  });
});
