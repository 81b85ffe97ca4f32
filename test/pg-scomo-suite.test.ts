// The SCOMO server suites (jobs engine with scripted sessions, REST API, end to end with the
// emulated device, job deadlines) run again with the server on PostgreSQL (`db`), one database per data
// directory, so a suite's restart reopens the same database.
import './scomo-server-jobs.test.js';
import './scomo-server-e2e.test.js';
import './api-scomo.test.js';
import './scomo-job-timeout.test.js';
import './package-delete.test.js';
import './job-list.test.js';
import './device-delete.test.js';
import { serverSuitesOnPostgres } from './helpers/pg-backend.js';

serverSuitesOnPostgres();
