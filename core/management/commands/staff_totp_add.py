import segno
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice


class Command(BaseCommand):
    help = (
        "Give a staff user an authenticator (TOTP): prints the QR code to scan "
        "with an authenticator app. From then on the admin asks for its code."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--name", default="authenticator", help="The device's name."
        )

    def handle(self, *args, username, name, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None or not user.is_staff:
            raise CommandError(f"No staff user {username!r}.")
        device = TOTPDevice.objects.create(user=user, name=name, confirmed=True)
        url = device.config_url
        qr = segno.make(url, micro=False)
        qr.terminal(out=self.stdout, compact=True)
        self.stdout.write(f"Scan it, or enter this in the app: {url}")
        self.stdout.write(
            self.style.SUCCESS(f"Authenticator {name!r} added for {username}.")
        )
