import { parseTaskRestarts } from './restarts';

const LOG = `[2026-12-07T23:32:19,277] INFO Awaiting end of restart backoff period after a retriable error (BaseSourceTask)
[2026-12-07T23:32:34,529] WARN WorkerSourceTask{id=strangler-rsloop-0} failed to poll records from SourceTask. Will retry operation. (AbstractWorkerSourceTask)
org.apache.kafka.connect.errors.RetriableException: An exception occurred in the change event producer. This connector will be restarted.
\tat io.debezium.pipeline.ErrorHandler.setProducerThrowable(ErrorHandler.java:63)
Caused by: io.debezium.DebeziumException: Could not execute heartbeat action query (Error: 42P01)
\t... 10 more
Caused by: org.postgresql.util.PSQLException: ERROR: relation "strangler.cdc_heartbeat" does not exist
  Position: 13
[2026-12-07T23:32:36,000] INFO WorkerSourceTask{id=strangler-acme-0} Committing offsets for 2 acknowledged messages (WorkerSourceTask)
[2026-12-07T23:32:49,529] WARN WorkerSourceTask{id=strangler-rsloop-0} failed to poll records from SourceTask. Will retry operation. (AbstractWorkerSourceTask)
org.apache.kafka.connect.errors.RetriableException: An exception occurred in the change event producer. This connector will be restarted.
Caused by: org.postgresql.util.PSQLException: ERROR: relation "strangler.cdc_heartbeat" does not exist
[2026-12-07T23:10:00,000] WARN WorkerSourceTask{id=strangler-old-0} failed to poll records from SourceTask. Will retry operation. (AbstractWorkerSourceTask)
org.apache.kafka.connect.errors.RetriableException: long ago
`;

describe('parseTaskRestarts', () => {
  it('counts each retriable failure of a task since the given time, with the root cause of the last', () => {
    expect(parseTaskRestarts(LOG, new Date('2026-12-07T23:30:00Z'), 0)).toEqual([
      { task: 'strangler-rsloop-0', count: 2, lastAt: '2026-12-07T23:32:49.529Z', cause: 'org.postgresql.util.PSQLException: ERROR: relation "strangler.cdc_heartbeat" does not exist' },
    ]);
  });

  it("reads the worker's local time", () => {
    // A worker at UTC+1 (getTimezoneOffset -60) wrote 23:32 local: 22:32 UTC, before the window.
    expect(parseTaskRestarts(LOG, new Date('2026-12-07T23:00:00Z'), -60)).toEqual([]);
    expect(parseTaskRestarts(LOG, new Date('2026-12-07T22:00:00Z'), -60).map((r) => [r.task, r.count])).toEqual([
      ['strangler-rsloop-0', 2],
      ['strangler-old-0', 1],
    ]);
  });

  it('takes the exception itself when the trace has no cause', () => {
    expect(parseTaskRestarts(LOG, new Date('2026-12-07T23:00:00Z'), 0).find((r) => r.task === 'strangler-old-0')?.cause).toBe('org.apache.kafka.connect.errors.RetriableException: long ago');
  });
});
