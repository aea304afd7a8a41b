// doctor's host-gw cases, first half (and the healthy lab, the v2-disabled etcd): tests/ns/doctor-hostgw.ts
import { doctorHostGwSuite } from './doctor-hostgw.ts';

doctorHostGwSuite(0);
