export { AuditLogError } from "./auditError.js";
export { GENESIS_HASH } from "./auditChain.js";
export { AuditLog, type AuditLogOptions } from "./auditLog.js";
export {
  AuditRecordSchema,
  auditCommand,
  WhoSchema,
  type AuditCommand,
  type AuditEntry,
  type AuditRecord,
  type Who,
} from "./auditRecord.js";
export { verifyAuditLog, type AuditVerification } from "./verifyAuditLog.js";
