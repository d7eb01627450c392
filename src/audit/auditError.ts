/**
 * The audit log cannot take a record. Callers fail closed on any of these: an action that changes or
 * collects does not run unless its record is on disk. Messages never carry a record's values.
 */
export class AuditLogError extends Error {
  override readonly name = "AuditLogError";
  readonly code:
    | "AUDIT_UNWRITABLE"
    | "AUDIT_UNREADABLE"
    | "AUDIT_CORRUPT"
    | "AUDIT_INVALID_RECORD"
    | "AUDIT_SECRET_REFUSED";

  constructor(code: AuditLogError["code"], message: string) {
    super(message);
    this.code = code;
  }
}
