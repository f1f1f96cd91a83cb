DROP TABLE oidc_flows;
