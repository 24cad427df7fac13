from servicekit.cli import main

from notifications.app import define

main(define)
