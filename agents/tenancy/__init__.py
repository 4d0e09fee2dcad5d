"""Tenancy: workspaces, members and roles, who may do what (API and Studio), signing in."""
