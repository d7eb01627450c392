import { InvalidInputError } from "../defender/errors.js";

/** Which field named the action: get_action and cancel_action take either, and exactly one. */
export interface ActionReference {
  id: string;
  field: "action_id" | "request_id";
}

export function actionReferenceOf(input: {
  action_id?: string | undefined;
  request_id?: string | undefined;
}): ActionReference {
  const { action_id: actionId, request_id: requestId } = input;
  if (actionId !== undefined && requestId !== undefined) {
    throw new InvalidInputError(
      "action_id, request_id",
      "give either action_id or request_id, not both: they name the same action",
    );
  }
  if (actionId !== undefined) return { id: actionId, field: "action_id" };
  if (requestId !== undefined) return { id: requestId, field: "request_id" };
  throw new InvalidInputError(
    "action_id, request_id",
    'give action_id (the GUID Defender gave) or request_id (the "req_…" id run_live_response returned)',
  );
}

/**
 * Runs a lookup of the action, so that a mistake about the id is blamed on the field the caller used
 * (the domain knows the id only as "action_id").
 */
export async function withReference<T>(ref: ActionReference, lookup: (id: string) => Promise<T>): Promise<T> {
  try {
    return await lookup(ref.id);
  } catch (error) {
    if (ref.field === "request_id" && error instanceof InvalidInputError && error.field === "action_id") {
      throw new InvalidInputError("request_id", error.message);
    }
    throw error;
  }
}
