import { spawnSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './config';
import { StackError } from './errors';
import type { StackLayout } from './layout';
import { tailFile } from './process';

export const POM_FILE = path.join(REPO_ROOT, 'stack', 'maven', 'pom.xml');
/** The toolkit's own Connect transformations (Java sources, compiled against the resolved Connect API). */
export const TRANSFORMS_DIR = path.join(REPO_ROOT, 'stack', 'connect-transforms');

export interface RuntimeVersions {
  readonly kafka: string;
  readonly debezium: string;
  readonly log4j: string;
}

export interface Runtime {
  readonly java: string;
  readonly javaVersion: string;
  readonly libDir: string;
  readonly pluginDir: string;
  readonly versions: RuntimeVersions;
  /** The Prometheus JMX exporter's Java agent (for `--observe`). */
  readonly jmxAgent: string;
  /** True when this call ran Maven; false when the cache was reused. */
  readonly resolved: boolean;
  /** Whether the toolkit's Connect transformations are in the plugin path (dev.strangler.connect.DropOrigin); null: why not. */
  readonly transforms: { readonly ok: true } | { readonly ok: false; readonly reason: string };
}

/** Reads the versions the POM pins; the POM is the only place they are written. */
export function pomVersions(pom = fs.readFileSync(POM_FILE, 'utf8')): RuntimeVersions {
  const read = (name: string): string => {
    const match = new RegExp(`<${name}>([^<]+)</${name}>`).exec(pom);
    if (!match?.[1]) throw new Error(`stack/maven/pom.xml lacks <${name}>`);
    return match[1];
  };
  return { kafka: read('kafka.version'), debezium: read('debezium.version'), log4j: read('log4j.version') };
}

/** The java binary (JAVA_HOME first) and its version; Kafka 4 and Debezium 3 need 17 or newer. */
export function findJava(env: NodeJS.ProcessEnv = process.env): { java: string; version: string } {
  const java = env.JAVA_HOME ? path.join(env.JAVA_HOME, 'bin', 'java') : 'java';
  const probe = spawnSync(java, ['-version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new StackError(
      'STR_ERR_STACK_JAVA_MISSING',
      `Java 17 or newer is needed to run Kafka and Kafka Connect, and ${java} could not be run` +
        `${probe.error ? ` (${probe.error.message})` : ''}. Install a JDK (apt-get install openjdk-17-jdk-headless) ` +
        'or set JAVA_HOME to one.',
      { context: { java } },
    );
  }
  const version = /version "([^"]+)"/.exec(probe.stderr)?.[1] ?? 'unknown';
  const major = Number(version.startsWith('1.') ? version.split('.')[1] : version.split('.')[0]);
  if (!(major >= 17)) {
    throw new StackError(
      'STR_ERR_STACK_JAVA_MISSING',
      `Kafka 4 needs Java 17 or newer, but ${java} is ${version}. Set JAVA_HOME to a JDK 17+ (ls /usr/lib/jvm).`,
      { context: { java, version } },
    );
  }
  return { java, version };
}

function pomDigest(): string {
  return crypto.createHash('sha256').update(fs.readFileSync(POM_FILE)).digest('hex');
}

const BINDING_JARS = /^(log4j-slf4j2?-impl|slf4j-reload4j|slf4j-log4j12|logback-classic|slf4j-simple|slf4j-jdk14|slf4j-nop)-/;

/** The SLF4J bindings on the classpath: exactly one, or SLF4J picks one at random and warns. */
export function loggingBindings(libDir: string): string[] {
  return fs.readdirSync(libDir).filter((jar) => BINDING_JARS.test(jar));
}

/**
 * Resolves Kafka, Kafka Connect, the JSON converter, one logging binding and
 * the Debezium PostgreSQL plugin from Maven Central into the cache folder.
 * A second run with the same POM reuses the cache without starting Maven.
 */
export async function ensureRuntime(layout: StackLayout, cacheDir: string): Promise<Runtime> {
  const { java, version: javaVersion } = findJava();
  const versions = pomVersions();
  const digest = pomDigest();
  const marker = readMarker(layout.runtimeMarker);
  const cached =
    marker?.pomSha256 === digest && fs.existsSync(layout.libDir) && fs.existsSync(path.join(layout.pluginDir, 'debezium-connector-postgres')) && fs.existsSync(jmxAgentJar(layout));
  if (!cached) {
    await runMaven(layout, cacheDir);
    const bindings = loggingBindings(layout.libDir);
    if (bindings.length !== 1) {
      throw new StackError(
        'STR_ERR_STACK_LOGGING_BINDINGS',
        `expected exactly one SLF4J binding in ${layout.libDir}, found ${bindings.length}: ${bindings.join(', ') || 'none'}. ` +
          'Fix the exclusions in stack/maven/pom.xml.',
        { context: { bindings } },
      );
    }
    fs.writeFileSync(layout.runtimeMarker, JSON.stringify({ pomSha256: digest, versions, resolvedAt: new Date().toISOString() }, null, 2));
  }
  const transforms = buildTransforms(java, layout);
  return Object.freeze({ java, javaVersion, libDir: layout.libDir, pluginDir: layout.pluginDir, jmxAgent: jmxAgentJar(layout), versions, resolved: !cached, transforms });
}

/** Where Maven copies the JMX exporter agent: beside lib/ (not in it: it is no library of the broker's). */
export function jmxAgentJar(layout: Pick<StackLayout, 'libDir'>): string {
  return path.join(path.dirname(layout.libDir), 'agents', 'jmx_prometheus_javaagent.jar');
}

function transformSources(dir = TRANSFORMS_DIR): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.java')).sort().map((f) => path.join(dir, f));
}

/** The service manifests (META-INF/services): Connect's plugin discovery (service_load) finds a plugin by them. */
const MANIFESTS = path.join(TRANSFORMS_DIR, 'META-INF');

/**
 * Compiles the toolkit's Connect transformations against the resolved
 * Connect API into their own plugin folder (Connect loads each plugin folder
 * with its own class loader), once per change of their sources. Without a
 * JDK they are left out, said, and the connectors go without them: what they
 * filter is then passed over by the consumers instead.
 */
export function buildTransforms(java: string, layout: Pick<StackLayout, 'libDir' | 'pluginDir'>): Runtime['transforms'] {
  const out = path.join(layout.pluginDir, 'strangler-transforms');
  const jarFile = path.join(out, 'strangler-transforms.jar');
  const sources = transformSources();
  const digest = crypto.createHash('sha256');
  for (const f of [...sources, ...fs.readdirSync(MANIFESTS, { recursive: true, encoding: 'utf8' }).map((x) => path.join(MANIFESTS, x)).filter((x) => fs.statSync(x).isFile())]) digest.update(f).update(fs.readFileSync(f));
  const sum = digest.digest('hex');
  const stamp = path.join(out, 'sources.sha256');
  if (fs.existsSync(jarFile) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === sum) return { ok: true };
  const bin = path.dirname(java) === '.' ? '' : path.dirname(java);
  const javac = bin ? path.join(bin, 'javac') : 'javac';
  const jar = bin ? path.join(bin, 'jar') : 'jar';
  const classes = fs.mkdtempSync(path.join(layout.pluginDir, '.transforms-'));
  try {
    const compiled = spawnSync(javac, ['--release', '17', '-nowarn', '-cp', path.join(layout.libDir, '*'), '-d', classes, ...sources], { encoding: 'utf8' });
    if (compiled.error || compiled.status !== 0) return { ok: false, reason: `${javac} could not compile ${TRANSFORMS_DIR} (${compiled.error?.message ?? compiled.stderr.trim().split('\n')[0]}): a JDK (not a JRE) is needed; back-sync's copies stay on the monolith's topics, where every consumer passes over them` };
    fs.cpSync(MANIFESTS, path.join(classes, 'META-INF'), { recursive: true });
    fs.rmSync(out, { recursive: true, force: true });
    fs.mkdirSync(out, { recursive: true });
    const packed = spawnSync(jar, ['cf', jarFile, '-C', classes, '.'], { encoding: 'utf8' });
    if (packed.error || packed.status !== 0) return { ok: false, reason: `${jar} could not pack the transformations (${packed.error?.message ?? packed.stderr.trim()})` };
    fs.writeFileSync(stamp, sum);
    return { ok: true };
  } finally {
    fs.rmSync(classes, { recursive: true, force: true });
  }
}

function readMarker(file: string): { pomSha256?: string } | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as { pomSha256?: string };
  } catch {
    return undefined;
  }
}

async function runMaven(layout: StackLayout, cacheDir: string): Promise<void> {
  const mvn = process.env.MAVEN_CMD ?? 'mvn';
  const probe = spawnSync(mvn, ['-v'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new StackError(
      'STR_ERR_STACK_MAVEN_MISSING',
      `Maven is needed once to fetch Kafka, Kafka Connect and Debezium from Maven Central, and ${mvn} could not be run` +
        `${probe.error ? ` (${probe.error.message})` : ''}. Install it (apt-get install maven) or set MAVEN_CMD to its path.`,
      { context: { mvn } },
    );
  }
  fs.mkdirSync(cacheDir, { recursive: true });
  // A previous, different resolution must not leave stale jars on the classpath.
  fs.rmSync(layout.libDir, { recursive: true, force: true });
  fs.rmSync(layout.pluginDir, { recursive: true, force: true });
  fs.rmSync(path.join(cacheDir, 'maven-target'), { recursive: true, force: true });
  const logFile = path.join(cacheDir, 'maven.log');
  const fd = fs.openSync(logFile, 'w');
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(
      mvn,
      ['-B', '-f', POM_FILE, `-Dstack.cache=${cacheDir}`, 'dependency:copy-dependencies', 'dependency:unpack', 'dependency:copy@agents'],
      { stdio: ['ignore', fd, fd] },
    );
    child.once('error', reject);
    child.once('exit', resolve);
  }).finally(() => fs.closeSync(fd));
  if (code !== 0) {
    throw new StackError(
      'STR_ERR_STACK_MAVEN_FAILED',
      `Maven could not resolve the stack's jars (exit ${code}); is Maven Central reachable? Last lines of ${logFile}:\n${tailFile(logFile, 20)}`,
      { retriable: true, context: { logFile } },
    );
  }
}
