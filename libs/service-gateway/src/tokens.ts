export const VIEW_STORE = Symbol('flotilla.workflow-view-store');
