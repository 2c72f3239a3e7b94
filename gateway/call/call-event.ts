/**
 * An event one filter reports about a call (`call.report`), possibly after the call ended,
 * for the other filters of the call's chain (`Filter.onEvent`): the `mirror` filter reports
 * a response mismatch once its copy has answered; the `audit` filter writes it to the trail
 * as a line of kind `kind`, linked to the call's record. Filters never import each other.
 */
export interface CallEvent {
  /** A lower-case word naming the event (`mirror`); the audit trail's line kind. */
  readonly kind: string
  /** JSON-able metadata (plain objects, arrays, strings, finite numbers, booleans, null). Never a body. */
  readonly data: Readonly<Record<string, unknown>>
}
