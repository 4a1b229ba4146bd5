"""The toolkit the layer modules in `templates/` write with: logical ids and
names, tags, parameters and outputs, data-keeping policies, scan
suppressions, console labels, awacs helpers, KMS keys, CIDR planning,
maintenance windows, Lambda zips and the schema base classes. Nothing in it
knows about builds or AWS accounts; it imports neither `templates` nor
`generator.build` nor `generator.deploy` (see the import contract in setup.cfg)."""
