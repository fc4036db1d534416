"""The admin REST API under ``/api/v1``: OAuth 2 tokens, then one router per resource."""

from __future__ import annotations

from fastapi import APIRouter

from portal.api import (
    accountexport,
    auditlog,
    auth,
    history,
    live,
    network,
    onboarding,
    opendata,
    partners,
    people,
    policies,
    requisitions,
    sessions,
    sponsorship,
    staff,
    stats,
    vouchers,
)

router = APIRouter(prefix="/api/v1")
router.include_router(auth.router)
router.include_router(network.router)
router.include_router(accountexport.router)  # before people's /{account_id}
router.include_router(people.router)
router.include_router(sessions.router)
router.include_router(policies.router)
router.include_router(onboarding.router)
router.include_router(stats.router)
router.include_router(history.router)
router.include_router(live.router)
router.include_router(opendata.router)
router.include_router(auditlog.router)
router.include_router(requisitions.router)
router.include_router(staff.router)
router.include_router(partners.router)
router.include_router(vouchers.router)
router.include_router(sponsorship.router)
