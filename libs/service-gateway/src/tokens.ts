export const VIEW_STORE = Symbol('flotilla.workflow-view-store');
export const CONVERSATIONS = Symbol('flotilla.conversation-store');
