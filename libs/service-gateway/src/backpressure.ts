import {
  BeforeApplicationShutdown, CanActivate, Controller, ExecutionContext, Get, HttpException, HttpStatus, Inject, Injectable, OnApplicationBootstrap,
} from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { createLogger, FlotillaError } from '@flotilla/common';
import { FlotillaConfig } from '@flotilla/config';
import { AGENTS, ConsumerGroups, Lane, TASK_TOPICS, Topics } from '@flotilla/contracts';
import { MessageBus } from '@flotilla/messaging';
import { agentGroup, BUS, CONFIG } from '@flotilla/platform';
import { RequireRoles } from './auth.guard';

const log = createLogger({ service: 'gateway', component: 'backpressure' });

/** The coordinator's consumer groups of the intake topics (named once, in contracts). */
export const COORDINATOR_INTERACTIVE_GROUP = ConsumerGroups.coordinator;
export const COORDINATOR_BATCH_GROUP = ConsumerGroups.coordinatorBatch;

/** One topic as read by one consumer group. */
export interface LaneSubject {
  topic: string;
  groupId: string;
}

/** What each lane's lag is measured over: its intake topic and every agent's task topic of that lane. */
export const LANE_SUBJECTS: Record<Lane, LaneSubject[]> = {
  interactive: [
    { topic: Topics.interactiveIntake.name, groupId: COORDINATOR_INTERACTIVE_GROUP },
    ...AGENTS.map((a) => ({ topic: TASK_TOPICS[a].interactive.name, groupId: agentGroup(a, 'interactive') })),
  ],
  batch: [
    { topic: Topics.intake.name, groupId: COORDINATOR_BATCH_GROUP },
    { topic: Topics.apiIntake.name, groupId: COORDINATOR_BATCH_GROUP },
    ...AGENTS.map((a) => ({ topic: TASK_TOPICS[a].batch.name, groupId: agentGroup(a, 'batch') })),
  ],
};

export interface LaneLag {
  /** Messages published and not yet consumed, over all the lane's topics. */
  lag: number;
  /** Offsets the lane's groups have committed in total (its progress; the drain rate is its slope). */
  consumed: number;
  topics: { topic: string; groupId: string; lag: number }[];
}

/**
 * Lag of each (topic, group): Σ over partitions of end offset − committed offset. A partition the
 * group never committed counts from offset 0 — everything on it is unconsumed. That is exact for a
 * group that has not started (nothing consumes the lane, so its backlog is all of it), and
 * conservative on a Kafka topic whose retention already deleted old messages (the lag is
 * over-stated, so the gateway sheds early rather than late).
 */
export async function measureLag(bus: MessageBus, subjects: LaneSubject[]): Promise<LaneLag> {
  const topics = await Promise.all(subjects.map(async ({ topic, groupId }) => {
    const [ends, committed] = await Promise.all([bus.endOffsets(topic), bus.committedOffsets(groupId, topic)]);
    let lag = 0n;
    let consumed = 0n;
    for (const [partition, end] of ends) {
      const at = committed.get(partition) ?? 0n;
      consumed += at;
      if (end > at) lag += end - at;
    }
    return { topic, groupId, lag: Number(lag), consumed: Number(consumed) };
  }));
  return {
    lag: topics.reduce((n, t) => n + t.lag, 0),
    consumed: topics.reduce((n, t) => n + t.consumed, 0),
    topics: topics.map(({ topic, groupId, lag }) => ({ topic, groupId, lag })),
  };
}

export interface LanesStatus {
  interactive: LaneLag | null;
  batch: LaneLag | null;
  /** BACKPRESSURE_BATCH_LAG; 0 = backpressure off. */
  threshold: number;
  /** Once shedding, new batch work is accepted again only below this lag (hysteresis, 80 % of the threshold). */
  resumeBelow: number;
  /** True while new batch submissions are refused with 503. */
  shedding: boolean;
  /** How fast the batch lane drains (messages per second), from the last two measurements. */
  batchDrainPerSecond: number | null;
  /** The Retry-After a refused submission gets now, in seconds. */
  retryAfterSeconds: number;
  measuredAt: string | null;
  /** Why the last measurement failed, if it did (shedding then keeps its last state). */
  error?: string;
}

/** 503 for new batch work while the batch lane is backed up; chat is not affected. */
export class BatchLaneSaturated extends HttpException {
  constructor(readonly lag: number, readonly threshold: number, readonly retryAfterSeconds: number) {
    super({
      statusCode: 503, error: 'Service Unavailable', code: 'BATCH_LANE_SATURATED',
      message: `the batch lane has ${lag} messages waiting (limit ${threshold}); new batch work is refused until it drains — retry after ${retryAfterSeconds} s. Chat is not affected.`,
      lane: 'batch', lag, threshold, retryAfterSeconds,
    }, HttpStatus.SERVICE_UNAVAILABLE);
  }
}

export const RETRY_AFTER_DEFAULT_SECONDS = 5;
export const RETRY_AFTER_MAX_SECONDS = 60;

/**
 * Backpressure at the edge. Every BACKPRESSURE_POLL_MS the gateway measures how far the consumers
 * of each lane are behind (from the log's end and committed offsets — the same figures on every
 * replica, so every replica decides alike) and keeps the result; a request never waits for a
 * measurement. Past BACKPRESSURE_BATCH_LAG, new batch work (REST submissions) is refused with 503
 * and a Retry-After estimated from the drain rate, until the lag is back under 80 % of the
 * threshold. Interactive work (chat) is never refused here: it has lanes of its own.
 */
@Injectable()
export class Backpressure implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly threshold: number;
  private readonly pollMs: number;
  private timer?: NodeJS.Timeout;
  private measuring?: Promise<void>;
  private state: LanesStatus;
  private previous?: { consumed: number; at: number };

  constructor(@Inject(BUS) private readonly bus: MessageBus, @Inject(CONFIG) config: FlotillaConfig) {
    this.threshold = config.BACKPRESSURE_BATCH_LAG;
    this.pollMs = config.BACKPRESSURE_POLL_MS;
    this.state = {
      interactive: null, batch: null, threshold: this.threshold, resumeBelow: Math.floor(this.threshold * 0.8), shedding: false,
      batchDrainPerSecond: null, retryAfterSeconds: RETRY_AFTER_DEFAULT_SECONDS, measuredAt: null,
    };
  }

  onApplicationBootstrap(): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.pollMs);
    this.timer.unref();
  }

  beforeApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  status(): LanesStatus {
    return this.state;
  }

  /** Throws {@link BatchLaneSaturated} while the batch lane is past its threshold. */
  admitBatch(): void {
    const s = this.state;
    if (s.shedding) throw new BatchLaneSaturated(s.batch?.lag ?? 0, s.threshold, s.retryAfterSeconds);
  }

  /** Measures both lanes now (one measurement at a time; concurrent callers share it). */
  refresh(): Promise<void> {
    this.measuring ??= this.measure().finally(() => {
      this.measuring = undefined;
    });
    return this.measuring;
  }

  private async measure(): Promise<void> {
    try {
      const now = Date.now();
      const [interactive, batch] = await Promise.all([measureLag(this.bus, LANE_SUBJECTS.interactive), measureLag(this.bus, LANE_SUBJECTS.batch)]);
      const prev = this.previous;
      const drain = prev && now > prev.at ? Math.max(0, ((batch.consumed - prev.consumed) * 1000) / (now - prev.at)) : this.state.batchDrainPerSecond;
      this.previous = { consumed: batch.consumed, at: now };
      const wasShedding = this.state.shedding;
      const shedding = this.threshold > 0 && (wasShedding ? batch.lag >= this.state.resumeBelow : batch.lag >= this.threshold);
      if (shedding !== wasShedding) log.warn(shedding ? 'batch lane saturated: refusing new batch work' : 'batch lane drained: accepting batch work again', { lag: batch.lag, threshold: this.threshold });
      this.state = {
        ...this.state, interactive, batch, shedding, batchDrainPerSecond: drain === null ? null : Math.round(drain * 10) / 10,
        retryAfterSeconds: retryAfter(batch.lag - this.state.resumeBelow, drain), measuredAt: new Date(now).toISOString(), error: undefined,
      };
    } catch (err) {
      // Cannot measure: keep the last decision (a broker that cannot answer offsets will not take submissions either).
      const error = FlotillaError.from(err);
      log.warn('could not measure lane lag', { err: error });
      this.state = { ...this.state, error: `${error.code}: ${error.message}` };
    }
  }
}

/** Seconds until `excess` messages have drained at `perSecond`, within [1, 60]; 5 without a rate. */
export function retryAfter(excess: number, perSecond: number | null): number {
  if (!perSecond || perSecond <= 0) return RETRY_AFTER_DEFAULT_SECONDS;
  return Math.min(RETRY_AFTER_MAX_SECONDS, Math.max(1, Math.ceil(Math.max(0, excess) / perSecond)));
}

/**
 * Bound on routes that submit batch work: refuses them with 503 + Retry-After while the batch lane
 * is backed up. Runs after the global AuthGuard, so an unauthenticated caller still gets 401.
 */
@Injectable()
export class BatchBackpressureGuard implements CanActivate {
  constructor(private readonly backpressure: Backpressure) {}

  canActivate(ctx: ExecutionContext): boolean {
    try {
      this.backpressure.admitBatch();
    } catch (err) {
      if (err instanceof BatchLaneSaturated) ctx.switchToHttp().getResponse<Response>().setHeader('Retry-After', String(err.retryAfterSeconds));
      throw err;
    }
    return true;
  }
}

@ApiTags('lanes')
@ApiBearerAuth()
@Controller('v1/lanes')
export class LanesController {
  constructor(private readonly backpressure: Backpressure) {}

  @Get()
  @RequireRoles('workflows:read', 'workflows:write', 'chat', 'operator')
  @ApiOkResponse({ description: 'Lag of the interactive and batch lanes (per topic and consumer group), the backpressure threshold, and whether new batch work is being refused.' })
  lanes(): LanesStatus {
    return this.backpressure.status();
  }
}
