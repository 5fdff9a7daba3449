import type { IncomingMessage } from 'node:http';
import type { CompiledConfig, CompiledService } from '../config/compile';
import type { ModeSetting } from '../config/schema';
import { writtenAt } from '../forward/headers';
import { inCanary } from '../routes/canary';
import type { Facts, ShadowSkip } from '../routes/decide';
import type { CompiledRoute } from '../routes/table';
import type { DataPlaneDeps, RouteOwnership } from './data-plane';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);
/**
 * decide()'s facts for one request, read from the routing snapshot and the
 * services' figures only when the decision asks (a request in monolith mode
 * asks nothing). One object per routed request, its lookups on the prototype.
 */
export class RequestFacts implements Facts {
  readonly method: string;
  readonly mirrorable: boolean;
  readonly sampleRate: number;
  readonly freshness: boolean;
  readonly owner: 'monolith' | 'service' | null;

  constructor(
    private readonly deps: DataPlaneDeps,
    private readonly config: CompiledConfig,
    private readonly req: IncomingMessage,
    private readonly route: CompiledRoute,
    readonly setting: ModeSetting,
    private readonly service: CompiledService,
    private readonly tenant: string,
    private readonly user: string | null,
    private readonly peer: string | undefined,
    private readonly owned: RouteOwnership | null,
  ) {
    this.method = req.method!;
    this.owner = owned?.owner ?? (config.domainOfRoute.has(route.id) ? 'monolith' : null);
    this.mirrorable = SAFE.has(this.method) || (route.mirrorWrites && !!service.dryRunHeader);
    this.sampleRate = route.shadowSampleRate ?? config.config.shadow.sampleRate;
    this.freshness = service.freshness !== undefined;
  }

  inCanary(): boolean {
    const { route, tenant } = this;
    let key: string;
    if (route.stickyBy === 'tenant') key = tenant;
    else if (route.stickyBy === 'user') key = this.user ?? this.peer ?? tenant;
    else {
      const v = this.req.headers[route.stickyHeader!];
      key = typeof v === 'string' ? v : this.peer ?? tenant;
    }
    return inCanary(route.id, `${tenant}\u0000${key}`, this.setting.percent ?? 0);
  }

  holding(): boolean {
    return this.owned !== null && this.owned.holdUntil > Date.now();
  }

  draw(): number {
    return Math.random();
  }

  behind(): boolean {
    return this.deps.behind?.(this.service, this.tenant) ?? false;
  }

  /**
   * Read-your-writes: this client wrote through the monolith less than
   * `readYourWrites.windowMs` ago (its cookie says when), and the service has
   * not said that every change committed before then is applied. A service
   * without freshness cannot say what it applied: not covered.
   */
  writeUnapplied(): boolean {
    const ryw = this.config.config.readYourWrites;
    if (ryw === undefined || this.deps.applied === undefined || !this.freshness) return false;
    const at = writtenAt(this.req.headers.cookie, ryw.cookie);
    if (at === null) return false;
    const now = Date.now();
    if (now - at > ryw.windowMs) return false;
    // A time from the future (a clock moved back, a forged cookie) counts as now.
    return !this.deps.applied(this.service, this.tenant, Math.min(at, now) + ryw.clockSkewMs);
  }

  admits(): 'yes' | ShadowSkip {
    return this.deps.mirror.admits(this.service.name);
  }
}
