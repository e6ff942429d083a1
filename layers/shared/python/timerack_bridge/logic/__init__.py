"""The logic of each flow: intake, payroll lock, feed import, export run, error mail, admin checks."""
