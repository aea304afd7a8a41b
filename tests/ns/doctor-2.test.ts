// doctor's host-gw cases, second half, on a lab of its own: tests/ns/doctor-hostgw.ts
import { doctorHostGwSuite } from './doctor-hostgw.ts';

doctorHostGwSuite(1);
