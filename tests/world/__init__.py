"""Tests of openeyes.world."""
