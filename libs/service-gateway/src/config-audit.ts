import { Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { createLogger } from '@flotilla/common';
import { configFingerprint, FlotillaConfig } from '@flotilla/config';
import { CONFIG } from '@flotilla/platform';
import { AuditTrail } from './audit-trail';

const log = createLogger({ service: 'gateway', component: 'config-audit' });

/** Audit subject of a service's effective configuration. */
export const configSubject = (service: string): string => `config:${service}`;

/**
 * At boot, records the gateway's effective configuration in the audit log (`config.effective`,
 * secrets redacted) with its SHA-256 and whether it differs from the previous boot's, so a
 * configuration change across deploys is visible in the tamper-evident log. Also warns loudly when
 * authentication is off.
 */
@Injectable()
export class ConfigAudit implements OnApplicationBootstrap {
  constructor(@Inject(CONFIG) private readonly config: FlotillaConfig, private readonly audit: AuditTrail) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.AUTH_REQUIRED) {
      log.warn('AUTH_REQUIRED is off: requests without a credential act for any tenant they name (X-Tenant-Id, ?tenant=). Development only; set AUTH_REQUIRED=true in production.');
    }
    const { config, sha256 } = configFingerprint(this.config);
    const subject = configSubject('gateway');
    const [previous] = await this.audit.history(subject, 1);
    const previousSha256 = typeof previous?.details['sha256'] === 'string' ? previous.details['sha256'] : null;
    const changed = previousSha256 !== null && previousSha256 !== sha256;
    await this.audit.record({ tenantId: '', actor: 'system:gateway', action: 'config.effective', subject, details: { service: 'gateway', sha256, previousSha256, changed, config } });
    log.info('effective configuration recorded in the audit log', { sha256, previousSha256, changed });
  }
}
