import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Runtime } from './runtime';

/** A .properties file, written whole each start so the state folder always shows what runs. */
export function writeProperties(file: string, entries: Record<string, string | number | boolean>): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const body = Object.entries(entries)
    .map(([k, v]) => `${k}=${String(v).replace(/\\/g, '\\\\')}`)
    .join('\n');
  fs.writeFileSync(file, `# written by stack/ on every start; edit stack/src instead\n${body}\n`);
}

/** Log4j 2 to stdout, which ManagedProcess appends to the process's log file. */
export function writeLog4j(file: string, extraLoggers: Record<string, string> = {}): void {
  const loggers = Object.entries(extraLoggers).flatMap(([name, level], i) => [
    `logger.l${i}.name=${name}`,
    `logger.l${i}.level=${level}`,
  ]);
  fs.writeFileSync(
    file,
    [
      'status=warn',
      'appender.out.type=Console',
      'appender.out.name=STDOUT',
      'appender.out.layout.type=PatternLayout',
      'appender.out.layout.pattern=[%d{ISO8601}] %p %m (%c{1})%n',
      'rootLogger.level=INFO',
      'rootLogger.appenderRef.out.ref=STDOUT',
      ...loggers,
      '',
    ].join('\n'),
  );
}

/** The JVM command line shared by the broker, its tools and the Connect worker. */
export function jvmArgs(runtime: Runtime, options: { heap: string; log4j: string; marker: string; mainClass: string; jmxExporter?: { port: number; config: string } }): string[] {
  return [
    // The Prometheus JMX exporter (--observe): /metrics on its own port, from the rules in observability/jmx.
    ...(options.jmxExporter ? [`-javaagent:${runtime.jmxAgent}=127.0.0.1:${options.jmxExporter.port}:${options.jmxExporter.config}`] : []),
    `-Xms${options.heap}`,
    `-Xmx${options.heap}`,
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-XX:+ExitOnOutOfMemoryError',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${options.log4j}`,
    // Lets a later start find and stop what an earlier, killed one left behind.
    `-Dstrangler.state=${options.marker}`,
    '-cp',
    `${runtime.libDir}/*`,
    options.mainClass,
  ];
}

/** A KRaft cluster id: 16 random bytes, URL-safe base64 without padding, as kafka-storage random-uuid prints. */
export function newClusterId(): string {
  // A leading '-' would be read as an option by kafka-storage's argument parser (1 start in 64 failed that way).
  for (;;) {
    const id = crypto.randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}
