/**
 * Stream sequence numbers are decimal strings of up to 40 digits. Stored zero
 * padded to a fixed width, DynamoDB's string comparison orders them
 * numerically, which is what the usage watermark condition needs.
 */

/** Width of a padded sequence number: more than the 40 digits streams use today. */
export const SEQUENCE_WIDTH = 48;

/** Zero-pads a sequence number so that string order is numeric order. */
export function padSequence(sequenceNumber: string): string {
  if (!/^\d{1,48}$/.test(sequenceNumber)) {
    throw new Error(
      `Expected a stream sequence number of 1 to ${SEQUENCE_WIDTH} digits, got "${sequenceNumber}"`,
    );
  }
  return sequenceNumber.padStart(SEQUENCE_WIDTH, '0');
}
