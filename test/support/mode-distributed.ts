process.env['FLOTILLA_TEST_MODE'] = 'distributed';
