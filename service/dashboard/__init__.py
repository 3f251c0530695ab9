"""The dashboard's page, script and style sheet: package data, served by `service.controllers.dashboard`."""
