import { Agent, ExecuteStepV1, Lane } from '@flotilla/contracts';
import { SpanAttributes, withRemoteParent, withSpan } from '@flotilla/telemetry';

/** The attributes of an agent step's span (docs/adr/0011): ids and names only, never the step's input or output. */
export function stepSpanAttributes(agent: Agent, task: ExecuteStepV1, lane: Lane): SpanAttributes {
  return {
    'flotilla.agent': agent,
    'flotilla.step.kind': task.kind,
    'flotilla.step.id': task.stepId,
    'flotilla.step.attempt': task.attempt,
    'flotilla.task.id': task.taskId,
    'flotilla.lane': lane,
    'flotilla.workflow.id': task.workflowId,
    'flotilla.tenant.id': task.tenantId,
  };
}

/**
 * Runs `fn` in a SERVER span that starts a new trace (a WebSocket `ask`, docs/adr/0011): what `fn`
 * publishes carries it, so the whole workflow the request starts is one trace under this span.
 */
export function withServerSpan<T>(name: string, attributes: SpanAttributes, fn: () => Promise<T>): Promise<T> {
  return withRemoteParent(undefined, () => withSpan(name, attributes, () => fn(), { kind: 'server' }));
}
