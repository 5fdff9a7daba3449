import { mergeExpositions } from './exposition';

const worker = (n: number, parity: number) =>
  [
    '# HELP strangler_proxy_requests_total Requests answered',
    '# TYPE strangler_proxy_requests_total counter',
    `strangler_proxy_requests_total{route="r",code="2xx"} ${n}`,
    '# HELP strangler_proxy_request_duration_seconds Time',
    '# TYPE strangler_proxy_request_duration_seconds histogram',
    `strangler_proxy_request_duration_seconds_bucket{route="r",le="+Inf"} ${n}`,
    `strangler_proxy_request_duration_seconds_sum{route="r"} 0.5`,
    '# HELP strangler_proxy_process_resident_memory_bytes Resident memory',
    '# TYPE strangler_proxy_process_resident_memory_bytes gauge',
    `strangler_proxy_process_resident_memory_bytes ${n * 1000}`,
    '# HELP strangler_proxy_parity_samples Shadow comparisons',
    '# TYPE strangler_proxy_parity_samples gauge',
    `strangler_proxy_parity_samples{route="r",tenant="acme"} ${parity}`,
    '',
  ].join('\n');

describe('mergeExpositions', () => {
  it('labels every sample with its worker and writes each family once', () => {
    const text = mergeExpositions([{ worker: '1', text: worker(3, 10) }, { worker: '2', text: worker(4, 10) }], (f) => f.startsWith('strangler_proxy_parity_'));
    expect(text.split('\n')).toEqual([
      '# HELP strangler_proxy_requests_total Requests answered',
      '# TYPE strangler_proxy_requests_total counter',
      'strangler_proxy_requests_total{worker="1",route="r",code="2xx"} 3',
      'strangler_proxy_requests_total{worker="2",route="r",code="2xx"} 4',
      '# HELP strangler_proxy_request_duration_seconds Time',
      '# TYPE strangler_proxy_request_duration_seconds histogram',
      'strangler_proxy_request_duration_seconds_bucket{worker="1",route="r",le="+Inf"} 3',
      'strangler_proxy_request_duration_seconds_sum{worker="1",route="r"} 0.5',
      'strangler_proxy_request_duration_seconds_bucket{worker="2",route="r",le="+Inf"} 4',
      'strangler_proxy_request_duration_seconds_sum{worker="2",route="r"} 0.5',
      '# HELP strangler_proxy_process_resident_memory_bytes Resident memory',
      '# TYPE strangler_proxy_process_resident_memory_bytes gauge',
      'strangler_proxy_process_resident_memory_bytes{worker="1"} 3000',
      'strangler_proxy_process_resident_memory_bytes{worker="2"} 4000',
      // The cluster's own figure (every worker holds all of it): once, unlabelled.
      '# HELP strangler_proxy_parity_samples Shadow comparisons',
      '# TYPE strangler_proxy_parity_samples gauge',
      'strangler_proxy_parity_samples{route="r",tenant="acme"} 10',
      '',
    ]);
  });

  it('keeps a family that only a later worker has, and empty label sets', () => {
    const text = mergeExpositions([
      { worker: '1', text: '# TYPE a counter\na{} 1\n' },
      { worker: '2', text: '# TYPE a counter\na{} 2\n# TYPE b gauge\nb 7\n' },
    ]);
    expect(text).toBe('# TYPE a counter\na{worker="1"} 1\na{worker="2"} 2\n# TYPE b gauge\nb{worker="2"} 7\n');
  });
});
