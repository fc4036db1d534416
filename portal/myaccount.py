"""My account: devices (remember, rename, forget), recent connections, my data, change the
password, delete the account."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from accounts import identitylinks, selfservice
from accounts.disconnect import disconnect_account
from accounts.errors import Conflict, InvalidInput, NotFound
from accounts.identity import normalize_mac
from accounts.models import Account
from accounts.users import delete_account, forget_device, list_devices
from portal.context import Page, PageDep, redirect, set_login
from portal.forms import (
    Errors,
    check_throttle,
    client_address,
    failed,
    password_error,
    read_form,
    show,
    signed_in,
)
from portal.onboarding.routes import secure_section

router = APIRouter(include_in_schema=False)


async def remember(page: Page, session: Any, account: Account) -> bool:
    """Remember the device the person came from, if the access point told us its MAC."""
    mac = page.handoff.client_mac if page.handoff else None
    if not mac:
        return False
    try:
        await selfservice.remember_this_device(
            session, account=account, mac=normalize_mac(mac), now=page.portal.now(),
            period=page.portal.config.remember,
        )  # fmt: skip
    except (InvalidInput, Conflict):
        return False
    return True


# -- my account ----------------------------------------------------------------------------------


@router.get("/account")
async def account_page(page: PageDep) -> Response:
    async with page.portal.transaction() as session:
        look, account = await page.look(session), await signed_in(page, session)
        devices = await list_devices(session, account=account)
        sessions = await selfservice.recent_sessions(session, account=account)
        secure = await secure_section(page, session, account)
        linked = {link.provider for link in await identitylinks.links_of(session, account=account)}
    this_mac = page.handoff.client_mac if page.handoff else None
    try:
        this_mac = normalize_mac(this_mac) if this_mac else None
    except InvalidInput:
        this_mac = None
    return await show(
        page, "account.html", look=look, account=account, devices=devices, sessions=sessions,
        this_mac=this_mac, now=page.portal.now(), remember_days=page.portal.config.remember.days,
        secure=secure, linked=linked,
    )  # fmt: skip


@router.post("/account/devices")
async def devices(page: PageDep) -> Response:
    async with page.portal.transaction() as session:
        account = await signed_in(page, session)
        form = await read_form(page)
        action, mac = form.get("action"), form.get("mac", "")
        try:
            if action == "remember":
                await remember(page, session, account)
            elif action == "forget":
                await forget_device(session, account=account, mac=mac)
            elif action == "rename":
                await selfservice.rename_device(
                    session, account=account, mac=mac, label=form.get("label", "")
                )
        except (NotFound, InvalidInput):
            pass  # a stale page: the list shown next is the truth
    return redirect(page, "/account")


@router.get("/account/data")
async def my_data(page: PageDep) -> Response:
    async with page.portal.transaction() as session:
        account = await signed_in(page, session)
        data = await selfservice.export_data(session, account=account)
    return Response(
        json.dumps(data, indent=2, ensure_ascii=False),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{account.username}-wifi-data.json"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/account/password")
async def password_form(page: PageDep) -> Response:
    async with page.portal.transaction() as session:
        look = await page.look(session)
        await signed_in(page, session)
    return await show(page, "password.html", look=look, errors={})


@router.post("/account/password")
async def change_password(page: PageDep) -> Response:
    portal = page.portal
    async with portal.transaction() as session:
        look, account = await page.look(session), await signed_in(page, session)
        keys = {"login_ip": client_address(page), "login_account": account.username}
        form = await read_form(page)
        await check_throttle(page, keys)
        errors: Errors = {}
        try:
            changed = await selfservice.change_password(
                session, hasher=portal.hasher, account=account, current=form.get("current", ""),
                new=form.get("password", ""),
            )  # fmt: skip
        except InvalidInput as exc:
            errors["password"] = password_error(page, exc)
            changed = False
        else:
            if not changed:
                await failed(page, keys)
                errors["current"] = page._("This is not your current password.")
    if errors:
        return await show(page, "password.html", look=look, errors=errors, status_code=422)
    response = await show(page, "password.html", look=look, errors={}, changed=True)
    set_login(page, response, account)  # the new password's cookie: other browsers are logged out
    return response


@router.get("/account/delete")
async def delete_form(page: PageDep) -> Response:
    async with page.portal.transaction() as session:
        look, account = await page.look(session), await signed_in(page, session)
    return await show(page, "delete.html", look=look, account=account, errors={})


@router.post("/account/delete")
async def delete(page: PageDep) -> Response:
    portal = page.portal
    async with portal.transaction() as session:
        look, account = await page.look(session), await signed_in(page, session)
        keys = {"login_ip": client_address(page), "login_account": account.username}
        form = await read_form(page)
        await check_throttle(page, keys)
        if not await portal.hasher.verify_off_loop(form.get("password", ""), account.password_hash):
            await failed(page, keys)
            errors = {"password": page._("This is not your current password.")}
            return await show(page, "delete.html", look=look, account=account, errors=errors, status_code=422)
        account_id = account.id
    if portal.coa is not None:  # end its connections first: afterwards the NAS knows no such user
        await disconnect_account(portal.sessions, box=portal.box, account_id=account_id, send=portal.coa)
    async with portal.transaction() as session:
        gone = await session.get(Account, account_id)
        if gone is not None:
            await delete_account(session, box=portal.box, account=gone, now=portal.now())
    response = await show(
        page, "message.html", look=look, heading=page._("Your account is deleted"),
        message=page._(
            "Your account, your devices and your email address are deleted. The law requires us to "
            "keep the technical records of your connections for one year, under a pseudonym."
        ),
    )  # fmt: skip
    set_login(page, response, None)
    return response
