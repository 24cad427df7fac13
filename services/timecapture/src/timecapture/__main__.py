from servicekit.cli import main
from timecapture.app import define

main(define)
