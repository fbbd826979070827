import { BeforeApplicationShutdown, Inject, Injectable } from '@nestjs/common';
import { AuditEntry, AuditLog, AuditRecord } from '@flotilla/memory';
import { AUDIT_LOG } from './review.tokens';

const ACTOR = /^[!-~]{1,200}$/; // printable ASCII without spaces: safe in logs and headers

/** Who an anonymous development request (AUTH_REQUIRED off) says it is, from `X-Actor` (default `anonymous`): recorded, not trusted. Authenticated requests are recorded as their principal's subject. */
export function actorFrom(header: string | undefined): string {
  return header !== undefined && ACTOR.test(header) ? header : 'anonymous';
}

/**
 * The gateway's writer of the deployment's audit log. A failed write is thrown to the caller: an
 * action that cannot be audited is reported as failed, never silently unaudited.
 */
@Injectable()
export class AuditTrail implements BeforeApplicationShutdown {
  constructor(@Inject(AUDIT_LOG) private readonly log: AuditLog) {}

  record(entry: AuditEntry): Promise<AuditRecord> {
    return this.log.append(entry);
  }

  /** A workflow was accepted from a client (`workflow.submitted`, subject = workflowId). */
  workflowSubmitted(s: { tenantId: string; workflowId: string; requestId: string; channel: string; actor?: string }): Promise<AuditRecord> {
    return this.log.append({ tenantId: s.tenantId, actor: s.actor ?? 'anonymous', action: 'workflow.submitted', subject: s.workflowId, details: { requestId: s.requestId, channel: s.channel } });
  }

  /** The audit records of one subject, newest first. */
  history(subject: string, limit = 100): Promise<AuditRecord[]> {
    return this.log.list({ subject, limit });
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.log.close();
  }
}
