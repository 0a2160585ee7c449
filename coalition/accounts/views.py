"""Sign-up, sign-in, two factors, passwords, email changes, invitations, settings."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from coalition.accounts import operations as ops
from coalition.accounts import throttle, tokens, twofactor
from coalition.accounts.forms import (
    ChangeEmailForm,
    ChangePasswordForm,
    CodeForm,
    ConfirmForm,
    EmailOnlyForm,
    LanguageForm,
    NewPasswordForm,
    PasswordConfirmForm,
    ProfileForm,
    RecoveryCodeForm,
    SignInForm,
    SignUpForm,
    StartForm,
)
from coalition.accounts.models import TokenPurpose, normalise_email
from coalition.accounts.passwords import verify_password
from coalition.accounts.session import (
    PENDING_KEY,
    begin_second_factor,
    fresh_required,
    mark_fresh,
    pending_second_factor,
    safe_next,
    start_session,
)
from coalition.accounts.tokens import TokenError
from coalition.extensions import limiter
from coalition.i18n import is_timezone, timezone_choices
from coalition.logs import event

bp = Blueprint("accounts", __name__)
log = logging.getLogger("coalition.accounts")


def _forms_limit() -> str:
    return current_app.config["RATELIMIT_FORMS_PER_IP"]


def _email_limit() -> str:
    return current_app.config["RATELIMIT_EMAIL_PER_ADDRESS"]


def _posted_email() -> str:
    """The address a form asks us to write to: its own counter, so nobody is mail-bombed.

    Named by its keyed hash: Flask-Limiter logs the key of a limit reached.
    """
    return "email:" + throttle.address_key(request.form.get("email", ""))


def _bad_token_page(kind: str):
    event(log, "bad token", level=logging.WARNING, kind=kind)
    return (
        render_template("accounts/bad_token.html", kind=kind),
        400,
    )


# -- Sign-up and confirmation -------------------------------------------------


@bp.route("/sign-up", methods=["GET", "POST"])
@limiter.limit(_forms_limit, methods=["POST"])
def sign_up():
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    form = SignUpForm()
    if request.method == "GET":
        form.language.data = (
            session.get("language")
            or request.accept_languages.best_match(list(current_app.config["LANGUAGES"]))
            or "en"
        )
    if form.validate_on_submit():
        # The same answer, in the same time, whether the address has an account (S4).
        ops.request_sign_up(
            name=form.name.data,
            email=form.email.data,
            password=form.password.data,
            language=form.language.data,
            timezone=form.timezone.data if is_timezone(form.timezone.data or "") else "UTC",
        )
        session["signed_up_email"] = normalise_email(form.email.data)
        return redirect(url_for("accounts.check_email"))
    return render_template("accounts/sign_up.html", form=form)


@bp.route("/sign-up/check-email")
def check_email():
    return render_template("accounts/check_email.html", email=session.get("signed_up_email"))


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm_email(token):
    form = ConfirmForm()
    if request.method == "GET":
        # A GET changes nothing: link scanners in mail systems follow links.
        try:
            tokens.peek(token, TokenPurpose.CONFIRM)
        except TokenError:
            return _bad_token_page("confirm")
        return render_template("accounts/confirm_email.html", form=form)
    if not form.validate_on_submit():
        return render_template("accounts/confirm_email.html", form=form), 400
    try:
        ops.confirm_email(token)
    except TokenError:
        return _bad_token_page("confirm")
    flash(_("Your email address is confirmed. You can sign in now."), "success")
    return redirect(url_for("accounts.sign_in"))


@bp.route("/confirm/resend", methods=["GET", "POST"])
@limiter.limit(_forms_limit, methods=["POST"])
@limiter.limit(_email_limit, key_func=_posted_email, methods=["POST"])
def resend_confirmation():
    form = EmailOnlyForm()
    if form.validate_on_submit():
        ops.request_confirmation(form.email.data)
        flash(
            _("If an unconfirmed account uses that address, a new link is on its way."),
            "success",
        )
        return redirect(url_for("accounts.sign_in"))
    return render_template("accounts/resend_confirmation.html", form=form)


# -- Sign-in and sign-out -----------------------------------------------------


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    next_url = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url)
    form = SignInForm()
    if form.validate_on_submit():
        throttle.check("signin", form.email.data)
        result, user = ops.check_credentials(form.email.data, form.password.data)
        if result == ops.SignInResult.BAD:
            throttle.fail("signin", form.email.data)
            ops.record_failed_sign_in(form.email.data, user, "bad credentials")
            event(log, "sign-in failed", level=logging.WARNING, user_id=getattr(user, "id", None))
            form.password.errors.append(_("The email or the password is not right."))
        elif result == ops.SignInResult.UNCONFIRMED:
            form.email.errors.append(
                _("Confirm your email address first: follow the link we sent you.")
            )
            return render_template("accounts/sign_in.html", form=form, show_resend=True)
        elif user.two_factor_enabled:
            begin_second_factor(user, next_url, form.remember.data)
            return redirect(url_for("accounts.second_factor"))
        else:
            start_session(user, remember=form.remember.data)
            ops.record_sign_in(user)
            if user.requires_two_factor:
                flash(_("Your role needs two-factor sign-in. Set it up to continue."), "info")
                return redirect(url_for("accounts.two_factor_setup"))
            return redirect(next_url)
    return render_template("accounts/sign_in.html", form=form, show_resend=False)


def _finish_second_factor(user, data):
    session.pop(PENDING_KEY, None)
    start_session(user, remember=data.get("remember", False))
    ops.record_sign_in(user)
    return redirect(safe_next(data.get("next")))


@bp.route("/sign-in/code", methods=["GET", "POST"])
def second_factor():
    user, data = pending_second_factor()
    if user is None:
        flash(_("Sign in again, please: that took too long."), "info")
        return redirect(url_for("accounts.sign_in"))
    form = CodeForm()
    if form.validate_on_submit():
        throttle.check("code", user.email)
        if twofactor.verify_totp(user, form.code.data):
            return _finish_second_factor(user, data)
        throttle.fail("code", user.email)
        ops.record_failed_sign_in(user.email, user, "bad second factor")
        event(log, "second factor failed", level=logging.WARNING, user_id=user.id)
        form.code.errors.append(
            _("That code is not right or was already used. Wait for the next one.")
        )
    return render_template("accounts/second_factor.html", form=form)


@bp.route("/sign-in/recovery", methods=["GET", "POST"])
def recovery_code():
    user, data = pending_second_factor()
    if user is None:
        flash(_("Sign in again, please: that took too long."), "info")
        return redirect(url_for("accounts.sign_in"))
    form = RecoveryCodeForm()
    if form.validate_on_submit():
        throttle.check("code", user.email)
        if twofactor.use_recovery_code(user, form.recovery_code.data):
            response = _finish_second_factor(user, data)
            left = twofactor.remaining_recovery_codes(user)
            flash(
                _("Recovery code accepted. You have %(n)d left.", n=left),
                "warning" if left < 3 else "info",
            )
            return response
        throttle.fail("code", user.email)
        ops.record_failed_sign_in(user.email, user, "bad recovery code")
        form.recovery_code.errors.append(_("That recovery code is not right or was used."))
    return render_template("accounts/recovery_code.html", form=form)


@bp.route("/sign-out", methods=["POST"])
def sign_out():
    form = ConfirmForm()
    if form.validate_on_submit() and current_user.is_authenticated:
        ops.sign_out(current_user._get_current_object())
    logout_user()
    language = session.get("language")
    session.clear()
    if language:
        session["language"] = language
    flash(_("You are signed out."), "success")
    return redirect(url_for("core.home"))


@bp.route("/reauthenticate", methods=["GET", "POST"])
@login_required
def reauthenticate():
    form = PasswordConfirmForm()
    next_url = safe_next(request.args.get("next"))
    if form.validate_on_submit():
        throttle.check("signin", current_user.email)
        ok, _rehash = verify_password(current_user.password_hash, form.password.data)
        if ok:
            mark_fresh()
            return redirect(next_url)
        throttle.fail("signin", current_user.email)
        ops.record_failed_sign_in(current_user.email, current_user, "bad re-authentication")
        form.password.errors.append(_("This is not your password."))
    return render_template("accounts/reauthenticate.html", form=form)


# -- Passwords ----------------------------------------------------------------


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(_forms_limit, methods=["POST"])
@limiter.limit(_email_limit, key_func=_posted_email, methods=["POST"])
def forgot_password():
    form = EmailOnlyForm()
    if form.validate_on_submit():
        ops.request_password_reset(form.email.data)
        return render_template("accounts/reset_sent.html", email=form.email.data)
    return render_template("accounts/forgot_password.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit(_forms_limit, methods=["POST"])
def reset_password(token):
    try:
        row = tokens.peek(token, TokenPurpose.RESET)
    except TokenError:
        return _bad_token_page("reset")
    form = NewPasswordForm()
    form.password_context = [row.user.name, row.user.email]
    if form.validate_on_submit():
        try:
            ops.reset_password(token, form.password.data)
        except TokenError:
            return _bad_token_page("reset")
        flash(_("Your password is changed. Sign in with the new one."), "success")
        return redirect(url_for("accounts.sign_in"))
    return render_template("accounts/reset_password.html", form=form)


@bp.route("/invitation/<token>", methods=["GET", "POST"])
@limiter.limit(_forms_limit, methods=["POST"])
def accept_invitation(token):
    try:
        row = tokens.peek(token, TokenPurpose.INVITE)
    except TokenError:
        return _bad_token_page("invite")
    form = NewPasswordForm()
    form.password_context = [row.user.name, row.user.email]
    if form.validate_on_submit():
        try:
            ops.accept_invitation(token, form.password.data)
        except TokenError:
            return _bad_token_page("invite")
        flash(_("Welcome! Your account is ready. Sign in with your new password."), "success")
        return redirect(url_for("accounts.sign_in"))
    return render_template("accounts/accept_invitation.html", form=form, invitee=row.user)


# -- The signed-in person's own settings -------------------------------------


@bp.route("/account/", methods=["GET", "POST"])
@login_required
def settings():
    user = current_user._get_current_object()
    form = ProfileForm(obj=user)
    form.timezone.choices = ["UTC", *timezone_choices()]
    if form.validate_on_submit():
        ops.update_profile(
            user, name=form.name.data, language=form.language.data, timezone=form.timezone.data
        )
        flash(_("Your settings are saved."), "success")
        return redirect(url_for("accounts.settings"))
    return render_template("accounts/settings.html", form=form, user=user)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    form.password_context = [current_user.name, current_user.email]
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            ops.change_password(user, form.current_password.data, form.password.data)
        except ops.AccountError as exc:
            getattr(form, exc.field).errors.append(exc.message)
        else:
            # Every other session has ended; this one carries on under the new id.
            start_session(user)
            flash(_("Your password is changed. Your other sessions have ended."), "success")
            return redirect(url_for("accounts.settings"))
    return render_template("accounts/change_password.html", form=form)


@bp.route("/account/email", methods=["GET", "POST"])
@login_required
def change_email():
    form = ChangeEmailForm()
    if form.validate_on_submit():
        try:
            ops.request_email_change(
                current_user._get_current_object(), form.email.data, form.password.data
            )
        except ops.AccountError as exc:
            getattr(form, exc.field or "email").errors.append(exc.message)
        else:
            flash(
                _(
                    "We sent a link to %(email)s. Your address changes when you follow it.",
                    email=form.email.data,
                ),
                "success",
            )
            return redirect(url_for("accounts.settings"))
    return render_template("accounts/change_email.html", form=form)


@bp.route("/account/email/confirm/<token>", methods=["GET", "POST"])
def confirm_new_email(token):
    form = ConfirmForm()
    try:
        row = tokens.peek(token, TokenPurpose.EMAIL_CHANGE)
    except TokenError:
        return _bad_token_page("email_change")
    if form.validate_on_submit():
        try:
            ops.confirm_new_email(token)
        except TokenError:
            return _bad_token_page("email_change")
        except ops.AccountError as exc:
            flash(exc.message, "error")
            return redirect(url_for("core.home"))
        logout_user()
        session.clear()
        flash(_("Your email address is changed. Sign in with the new one."), "success")
        return redirect(url_for("accounts.sign_in"))
    return render_template("accounts/confirm_new_email.html", form=form, new_email=row.new_email)


# -- Two-factor settings ------------------------------------------------------


@bp.route("/account/two-factor")
@login_required
def two_factor():
    user = current_user._get_current_object()
    return render_template(
        "accounts/two_factor.html",
        user=user,
        remaining=twofactor.remaining_recovery_codes(user),
        form=ConfirmForm(),
        disable_form=PasswordConfirmForm(),
    )


@bp.route("/account/two-factor/setup", methods=["GET", "POST"])
@login_required
def two_factor_setup():
    """Two steps: a POST starts the enrolment (a secret kept server-side, never in
    the session cookie, which is signed but readable by its holder), the page
    then shows it; a POST with the app's code turns two factors on."""
    user = current_user._get_current_object()
    if user.two_factor_enabled:
        return redirect(url_for("accounts.two_factor"))
    start_form = StartForm()
    if start_form.start.data and start_form.validate_on_submit():
        twofactor.enrolment_secret(user)
        return redirect(url_for("accounts.two_factor_setup"))
    # Reading the page changes nothing (a GET never does): no enrolment, no secret yet.
    secret = twofactor.pending_secret(user)
    form = CodeForm()
    if secret is None:
        if request.method == "POST" and not start_form.start.data:
            flash(_("That took too long: here is a new code to scan."), "info")
        return render_template(
            "accounts/two_factor_setup.html",
            form=form,
            start_form=start_form,
            secret=None,
            minutes=twofactor.ENROLMENT_LIFETIME // timedelta(minutes=1),
            forced=user.requires_two_factor,
        )
    if form.validate_on_submit():
        throttle.check("code", user.email)
        try:
            codes = ops.enable_two_factor(user, secret, form.code.data)
        except ops.AccountError as exc:
            throttle.fail("code", user.email)
            form.code.errors.append(exc.message)
        else:
            mark_fresh()
            return render_template("accounts/recovery_codes.html", codes=codes)
    uri = twofactor.provisioning_uri(user, secret)
    return render_template(
        "accounts/two_factor_setup.html",
        form=form,
        start_form=start_form,
        secret=secret,
        qr=twofactor.qr_svg(uri, _("QR code for your authenticator app")),
        forced=user.requires_two_factor,
    )


@bp.route("/account/two-factor/recovery-codes", methods=["POST"])
@login_required
@fresh_required
def regenerate_recovery_codes():
    form = ConfirmForm()
    user = current_user._get_current_object()
    if not form.validate_on_submit() or not user.two_factor_enabled:
        return redirect(url_for("accounts.two_factor"))
    codes = ops.regenerate_recovery_codes(user)
    return render_template("accounts/recovery_codes.html", codes=codes)


@bp.route("/account/two-factor/disable", methods=["POST"])
@login_required
def disable_two_factor():
    form = PasswordConfirmForm()
    user = current_user._get_current_object()
    if form.validate_on_submit():
        try:
            ops.disable_two_factor(user, form.password.data)
        except ops.AccountError as exc:
            flash(exc.message, "error")
        else:
            flash(_("Two-factor sign-in is off."), "success")
    return redirect(url_for("accounts.two_factor"))


# -- Language -----------------------------------------------------------------


@bp.route("/language", methods=["POST"])
def set_language():
    form = LanguageForm()
    if form.validate_on_submit():
        session["language"] = form.language.data
        if current_user.is_authenticated:
            ops.update_profile(
                current_user._get_current_object(),
                name=current_user.name,
                language=form.language.data,
                timezone=current_user.timezone,
            )
    return redirect(safe_next(form.next.data))
