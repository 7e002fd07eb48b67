/** Display formats for offer terms. Fixed English month names keep "30 Jun 2026" identical in every browser. */

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Offer end dates are calendar dates stored at UTC midnight; read them in UTC so they don't shift a day. */
export function validity(validTo: string | null): string {
  if (validTo === null) return "No end date";
  const d = new Date(validTo);
  if (Number.isNaN(d.getTime())) return "No end date";
  return `Valid until ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
}

export function minSpend(amount: number): string {
  const money = Number.isInteger(amount) ? `$${amount}` : `$${amount.toFixed(2)}`;
  return `Spend ${money} or more`;
}
