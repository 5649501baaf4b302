import type { AttributeValue } from '@aws-sdk/client-dynamodb';

/** The expression fields of one conditional `Update` (UpdateItem or a transaction item). */
export interface UpdateParts {
  readonly UpdateExpression: string;
  readonly ConditionExpression?: string;
  readonly ExpressionAttributeNames: Record<string, string>;
  /** Absent when no expression uses a value (DynamoDB refuses an empty map). */
  readonly ExpressionAttributeValues?: Record<string, AttributeValue>;
}

/**
 * Collects `SET`, `ADD` and `REMOVE` clauses and condition terms for one update, with
 * generated placeholders, so no attribute name or value is ever spliced into
 * an expression.
 */
export class UpdateExpressionBuilder {
  private readonly sets: string[] = [];
  private readonly adds: string[] = [];
  private readonly removes: string[] = [];
  private readonly conditions: string[] = [];
  private readonly names: Record<string, string> = {};
  private readonly values: Record<string, AttributeValue> = {};
  private readonly nameByAttribute = new Map<string, string>();
  private valueCount = 0;

  /** The placeholder of an attribute name (one per distinct attribute). */
  name(attribute: string): string {
    let placeholder = this.nameByAttribute.get(attribute);
    if (placeholder === undefined) {
      placeholder = `#a${this.nameByAttribute.size}`;
      this.nameByAttribute.set(attribute, placeholder);
      this.names[placeholder] = attribute;
    }
    return placeholder;
  }

  /** A fresh placeholder bound to `value`. */
  value(value: AttributeValue): string {
    const placeholder = `:v${this.valueCount++}`;
    this.values[placeholder] = value;
    return placeholder;
  }

  /** `SET <attribute> = <value placeholder>`. */
  set(attribute: string, valuePlaceholder: string): this {
    this.sets.push(`${this.name(attribute)} = ${valuePlaceholder}`);
    return this;
  }

  /** `ADD <attribute> <value placeholder>` (numbers: atomic increment, creating the attribute at 0). */
  add(attribute: string, valuePlaceholder: string): this {
    this.adds.push(`${this.name(attribute)} ${valuePlaceholder}`);
    return this;
  }

  /** `REMOVE <attribute>` (nothing if it is absent). */
  remove(attribute: string): this {
    this.removes.push(this.name(attribute));
    return this;
  }

  /** A condition term; all terms are joined with AND, each in parentheses. */
  condition(term: string): this {
    this.conditions.push(term);
    return this;
  }

  /** The finished expression fields. */
  build(): UpdateParts {
    const clauses: string[] = [];
    if (this.sets.length > 0) clauses.push(`SET ${this.sets.join(', ')}`);
    if (this.adds.length > 0) clauses.push(`ADD ${this.adds.join(', ')}`);
    if (this.removes.length > 0) clauses.push(`REMOVE ${this.removes.join(', ')}`);
    if (clauses.length === 0) throw new TypeError('An update needs at least one SET, ADD or REMOVE clause');
    const update = clauses.join(' ');
    const condition = this.conditions.map((term) => `(${term})`).join(' AND ');
    // DynamoDB refuses placeholders that no expression uses.
    const used = (placeholder: string): boolean => {
      const pattern = new RegExp(`${placeholder}(?![0-9])`);
      return pattern.test(update) || pattern.test(condition);
    };
    const values = Object.entries(this.values).filter(([value]) => used(value));
    const parts = {
      UpdateExpression: update,
      ExpressionAttributeNames: Object.fromEntries(Object.entries(this.names).filter(([name]) => used(name))),
      ...(values.length === 0 ? {} : { ExpressionAttributeValues: Object.fromEntries(values) }),
    };
    return condition === '' ? parts : { ...parts, ConditionExpression: condition };
  }
}
