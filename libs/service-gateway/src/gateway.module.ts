import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ApiKeyLookup, authenticatorFrom, requireAuthenticationMethod } from '@flotilla/auth';
import { FlotillaConfig } from '@flotilla/config';
import { ApiKeyStore, createApiKeyStore, createAuditLog, createConversationStore, createDeadLetterStore, createWorkflowViewStore } from '@flotilla/memory';
import { CONFIG } from '@flotilla/platform';
import { Admission } from './admission';
import { ChatServer } from './chat.server';
import { LiveUpdates } from './live-updates';
import { WorkflowProjector } from './projector';
import { ProjectionLag } from './projection-lag';
import { Submissions } from './submissions';
import { CONVERSATIONS, VIEW_STORE } from './tokens';
import { UsageController, WorkflowsController } from './workflows.controller';
import { ChatPageController } from './chat-page.controller';
import { PreferencesController } from './preferences.controller';
import { AuditTrail } from './audit-trail';
import { CancelController } from './cancel.controller';
import { ConfirmController } from './confirm.controller';
import { Confirmations } from './confirmations';
import { DeadLetterController } from './dlq.controller';
import { DeadLetterProjector } from './dlq.projector';
import { AUDIT_LOG, DEAD_LETTERS } from './review.tokens';
import { ApiKeysController } from './api-keys.controller';
import { AuthGuard } from './auth.guard';
import { API_KEYS, AUTHENTICATOR } from './auth.tokens';
import { ConfigAudit } from './config-audit';
import { RateLimiter } from './rate-limiter';
import { Backpressure, BatchBackpressureGuard, LanesController } from './backpressure';

/** The edge: WebSocket chat, REST, and the workflow read model. Stateless; any replica serves any client. */
@Module({
  controllers: [WorkflowsController, CancelController, ConfirmController, UsageController, PreferencesController, ChatPageController, DeadLetterController, ApiKeysController, LanesController],
  providers: [
    {
      provide: API_KEYS,
      inject: [CONFIG],
      useFactory: async (config: FlotillaConfig) => {
        const store = createApiKeyStore(config);
        await store.init();
        return store;
      },
    },
    {
      provide: AUTHENTICATOR,
      inject: [CONFIG, API_KEYS],
      useFactory: (config: FlotillaConfig, keys: ApiKeyStore) => {
        requireAuthenticationMethod(config);
        return authenticatorFrom(config, keys satisfies ApiKeyLookup);
      },
    },
    // Global: every route of the application, whichever module adds it, needs a principal unless @Public.
    { provide: APP_GUARD, useClass: AuthGuard },
    RateLimiter,
    Backpressure,
    BatchBackpressureGuard,
    ConfigAudit,
    {
      provide: VIEW_STORE,
      inject: [CONFIG],
      useFactory: async (config: FlotillaConfig) => {
        const store = createWorkflowViewStore(config);
        await store.init();
        return store;
      },
    },
    {
      provide: CONVERSATIONS,
      inject: [CONFIG],
      useFactory: async (config: FlotillaConfig) => {
        const store = createConversationStore(config);
        await store.init();
        return store;
      },
    },
    {
      provide: DEAD_LETTERS,
      inject: [CONFIG],
      useFactory: async (config: FlotillaConfig) => {
        const store = createDeadLetterStore(config);
        await store.init();
        return store;
      },
    },
    {
      provide: AUDIT_LOG,
      inject: [CONFIG],
      useFactory: async (config: FlotillaConfig) => {
        const log = createAuditLog(config);
        await log.init();
        return log;
      },
    },
    AuditTrail,
    Confirmations,
    DeadLetterProjector,
    Admission,
    Submissions,
    LiveUpdates,
    WorkflowProjector,
    ProjectionLag,
    ChatServer,
  ],
})
export class GatewayModule {}
