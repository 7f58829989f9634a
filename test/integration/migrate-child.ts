/**
 * Test helper run as a separate OS process (`npx tsx test/integration/migrate-child.ts <database-url>`):
 * migrates the database and prints the MigrateResult as one JSON line on stdout.
 */
import { createPool } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrations.js';

const url = process.argv[2];
if (url === undefined) {
  process.stderr.write('usage: migrate-child <database-url>\n');
  process.exitCode = 2;
} else {
  const sql = createPool({ url, max: 1, applicationName: 'voice-ai-migrate-child' });
  try {
    const result = await migrate(sql);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  } finally {
    await sql.end({ timeout: 5 });
  }
}
