/** The rule file and rule test file schemas (schema/rules.schema.json), compiled once. */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import schema from '../../../schema/rules.schema.json' with { type: 'json' };

const ajv = new Ajv({ allErrors: true, verbose: true, allowUnionTypes: true });
// The message editors show when a value breaks `pattern` (VS Code's extension keyword); src/schema-issues.ts uses it too.
ajv.addKeyword({ keyword: 'patternErrorMessage', schemaType: 'string' });
ajv.addSchema(schema);

function errorsUnder(validate: ValidateFunction): (value: unknown) => ErrorObject[] {
  return (value) => (validate(value) ? [] : [...(validate.errors ?? [])]);
}

/** Schema errors in a rule file's data; empty when it is valid. */
export const ruleFileErrors = errorsUnder(ajv.getSchema(schema.$id)!);

/** Schema errors in a rule test file's data; empty when it is valid. */
export const ruleTestFileErrors = errorsUnder(ajv.getSchema(`${schema.$id}#/definitions/ruleTestFile`)!);
