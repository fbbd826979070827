import { Injectable } from '@nestjs/common';

export interface ReadinessCheck {
  name: string;
  ready(): boolean | Promise<boolean>;
}

/** What `/readyz` asks: every registered component (bus, consumers, stores) must be ready. */
@Injectable()
export class Readiness {
  private readonly checks: ReadinessCheck[] = [];
  private draining = false;

  register(check: ReadinessCheck): void {
    this.checks.push(check);
  }

  /** Marks the process as shutting down: readiness fails so load balancers stop sending work. */
  drain(): void {
    this.draining = true;
  }

  async report(): Promise<{ ready: boolean; checks: Record<string, boolean> }> {
    const checks: Record<string, boolean> = {};
    for (const c of this.checks) {
      try {
        checks[c.name] = await c.ready();
      } catch {
        checks[c.name] = false;
      }
    }
    if (this.draining) checks['draining'] = false;
    return { ready: !this.draining && Object.values(checks).every(Boolean), checks };
  }
}
