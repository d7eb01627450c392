export { DecisionSchema, type Decision } from "./decision.js";
export { parseDevicePath, type DevicePath, type DevicePathResult } from "./devicePath.js";
export { evaluateRequest, type RunRequest } from "./evaluateRequest.js";
export { loadPolicy, parsePolicy, type LoadedPolicy } from "./loadPolicy.js";
export { PolicyError } from "./policyError.js";
export { DEFAULT_POLICY, PolicySchema, type Policy } from "./policySchema.js";
export { PolicyStore, type PolicyStoreOptions } from "./policyStore.js";
export { toolAllowed, toolDecision, type ToolDescriptor } from "./toolAccess.js";
